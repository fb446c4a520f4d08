"""Package metadata comes from settings.ini, the single source shared with nbdev."""
from configparser import ConfigParser
from pathlib import Path

from setuptools import find_packages, setup

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini", encoding="utf-8")
c = cfg["DEFAULT"]

setup(
    name=c["lib_name"],
    version=c["version"],
    description=c["description"],
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=c["author"],
    author_email=c["author_email"],
    license="Apache-2.0",
    keywords=c["keywords"].split(),
    python_requires=">=" + c["min_python"],
    packages=find_packages(include=["tinybench", "tinybench.*"]),
    package_data={"tinybench": ["py.typed"]},
    install_requires=c["requirements"].split(),
    extras_require={"dev": c["dev_requirements"].split(), "gpu": ["nvidia-ml-py>=12"]},
    entry_points={"console_scripts": c["console_scripts"].split()},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Education",
        "Intended Audience :: Science/Research",
        "Topic :: System :: Benchmark",
    ],
)
