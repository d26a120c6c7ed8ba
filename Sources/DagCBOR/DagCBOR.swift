// DagCBOR module
