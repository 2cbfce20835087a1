import sys

from cifar_cnn.cli import main

sys.exit(main())
