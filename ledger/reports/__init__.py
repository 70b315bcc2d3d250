"""Reports: the documents (credits, audit, register) and their rendering to HTML and PDF."""
