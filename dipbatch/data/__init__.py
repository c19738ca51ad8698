"""Files that ship with dipbatch: the workflow configuration's schema and the site profiles."""
