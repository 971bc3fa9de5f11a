"""The ground floor: value types, errors, the cache, codecs, fingerprints.

It imports nothing of the package above it.
"""
