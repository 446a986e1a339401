"""The official (NVIDIA / DragGAN) ``.pkl`` generators: read without running
any code in them (:mod:`.pickle_reader`) and converted to MMagic's
``StyleGANv2Generator`` layout (:mod:`.convert`)."""
from .convert import convert_official_pickle
from .pickle_reader import OfficialPickleError

__all__ = ['convert_official_pickle', 'OfficialPickleError']
