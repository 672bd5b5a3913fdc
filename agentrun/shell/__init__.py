"""The shell: the command line, chat, batch, Studio and the Python API that drive the graph."""
