"""Who is asking (`user`) and may they (`rbac`): the pure halves of authentication and
authorization, kept free of I/O so they are tested by table and reused by every transport."""
