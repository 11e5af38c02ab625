"""Email: sandboxed templates, the outbox, sending over SMTP, unsubscribe links."""
