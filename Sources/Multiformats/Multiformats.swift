// Multiformats module
