"""A local double of the gov.gr mailbox for organisations (the port the protocol sheet recommends)."""
