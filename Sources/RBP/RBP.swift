// One import for the whole library: `import RBP` brings in the kernels
// (RBPKernels), the networks and their gradients (RBPCore), the HDF5 files
// (RBPStore), configs, training and sweeps (RBPTrain), and the analyses of
// a trained network (RBPAnalysis). Each module can also be imported alone.

@_exported import RBPAnalysis
@_exported import RBPCore
@_exported import RBPKernels
@_exported import RBPStore
@_exported import RBPTrain
