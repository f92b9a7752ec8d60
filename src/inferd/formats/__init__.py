"""What a file is, read from its content and never from its name.

Recognisers shared by the runtimes (which runtime loads a file) and the store (which files it
admits as data). Like the rest of the kernel it imports no inferd package but the errors. Each
reads a bounded head of a file or walks its structure with ``seek``, never loading it whole.
"""
