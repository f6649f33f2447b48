"""The per-repository index: git access, chunking, the SQLite store and the FAISS cache."""
