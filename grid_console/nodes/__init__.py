"""Node and device health: the nodes' retained status, camera and sensor states."""
