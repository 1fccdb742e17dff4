"""TA tools: recordings and synthetic voices -> speaker datasets, dataset checks, pre-training."""
