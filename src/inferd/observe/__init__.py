"""What inferd tells about itself: Prometheus metrics of the server, drift against the reference
profile in the model card, the GPU collector (DCGM-compatible names) and the web dashboard.

May import only the kernel; serving and control feed it, it never calls them.
"""
