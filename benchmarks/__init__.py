"""Benchmarks of VAE Explorer (engine vs PyTorch, GEMM floor, GUI latencies). Run: python benchmarks/run.py"""
