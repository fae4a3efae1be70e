"""LeNet-5 Lab: the PyTorch core behind the dashboard, the notebooks and the CLI.

Nothing in this package imports Streamlit: pages, notebooks and the CLI are views over it.
"""
