"""urllib: only its `parse` submodule is a facade (`import urllib.parse`); the package binds nothing else."""
