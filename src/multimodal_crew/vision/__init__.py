"""Images: checked loading, an offline describer (OCR + measured facts), and VLM messages."""
