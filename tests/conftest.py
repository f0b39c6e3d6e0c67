"""Fixtures shared by several test files (a file's own fixture of the same name takes precedence)."""
import warnings

import pytest


@pytest.fixture(scope="session")
def world():
    """The synthfaces world on the CPU, loaded once (the GAN may have moved on since the encoder
    was trained: that warning is not what these tests are about)."""
    from helpers import worlds
    from helpers.worlds.synthfaces import encoder as encoder_module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", encoder_module.GeneratorChangedWarning)
        return worlds.load("synthfaces", device="cpu")
