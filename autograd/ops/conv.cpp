// conv2d / pooling: written next.
