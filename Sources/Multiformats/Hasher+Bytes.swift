extension Hasher {
    /// Feeds a byte string in one call. `combine([UInt8])` feeds the bytes one at a time, which
    /// showed up in profiles of dictionaries keyed by CIDs and IDs.
    public mutating func combineBytes(_ bytes: [UInt8]) {
        combine(bytes.count)
        bytes.withUnsafeBytes { combine(bytes: $0) }
    }
}
