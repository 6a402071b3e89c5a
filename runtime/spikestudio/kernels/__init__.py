"""Optional fused kernels (Triton). Import submodules lazily: triton is not a runtime dependency."""
