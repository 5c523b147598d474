"""DOKU tokenization audit library: signing, client, simulator, bulk audits, store, frames.

Importable and fully usable without Streamlit.
"""

__version__ = "0.1.0"
