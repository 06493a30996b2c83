"""`atsnn report`: what a network does on the accelerator, on one page."""
