"""Sites, grids (网格, with micro-grids), people with roles and channels, and duty rosters."""
