"""The CockroachDB Cloud API: the client, the bounded concurrent reads plan and apply take, and drift."""
