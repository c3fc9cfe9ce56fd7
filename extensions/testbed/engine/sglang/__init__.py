"""TEST DOUBLE: stands in for SGLang in the engine stand-in image (see launch_server)."""
