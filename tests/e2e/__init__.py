"""Real-browser end-to-end tests: a Streamlit server subprocess + headless chromium."""
