import sys

from onnxgru.cli import main

sys.exit(main())
