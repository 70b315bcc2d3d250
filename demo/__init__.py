"""The demo production (a short show of human and AI work) and the local broker it starts."""
