"""Batch intake: readers for CSV / JSONL / JSON, the streaming pipeline, pandas frames and output writers."""
