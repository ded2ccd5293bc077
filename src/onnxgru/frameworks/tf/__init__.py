"""TensorFlow and Keras: read every source kind (``source``), find GRUs (``cells``, ``keras``), export (``export``).

TensorFlow is imported only through ``onnxgru.frameworks.tf.tfimport.tf()``, which sets the legacy-Keras switch first.
"""
