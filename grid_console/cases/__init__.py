"""Cases: one per alert, carried through a state machine with an audit trail."""
