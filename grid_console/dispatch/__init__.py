"""Who a case goes to: auto-dispatch by kind and severity, and the one notification hook."""
