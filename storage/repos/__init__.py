"""Repositories, one per aggregate. Each holds a session, runs the SQL and never commits: the caller owns the
transaction (`storage.db.transaction`). They return the plain records of storage.records, never ORM rows."""
