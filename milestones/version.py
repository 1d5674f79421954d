"""The package's version, in a module of its own so that every module can record it without importing the
package's __init__ (which imports them all)."""

__version__ = "0.2.0"  # 0.2.0: option-A zero channels either side (CIFAR ResNets), the weights zoo
