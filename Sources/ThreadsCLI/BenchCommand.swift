import ArgumentParser

/// `threads bench …`: throughput figures, each next to a baseline measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput against baselines taken in the same run.",
        discussion: "Build with -c release for meaningful figures (make bench does).",
        subcommands: [
            EncodingBench.self, StoreBench.self, TransportBench.self, DHTBench.self, ExchangeBench.self,
            ThreadsBench.self, DBBench.self,
        ]
    )
}

/// Options shared by every benchmark.
struct BenchOptions: ParsableArguments {
    @Option(help: "Timed rounds per figure; the best round is reported.")
    var rounds: Int = 5

    @Option(help: "Minimum length of one round, in milliseconds.")
    var roundMilliseconds: Int = 200

    func validate() throws {
        guard rounds > 0 else { throw ValidationError("--rounds must be at least 1") }
        guard roundMilliseconds > 0 else { throw ValidationError("--round-milliseconds must be positive") }
    }
}

/// Runs a body repeatedly and reports the best rate over several rounds.
///
/// Best-of-N rather than the mean: the machine is shared, and interference only ever slows a round
/// down, so the fastest round is the closest to what the code itself costs.
struct BenchRunner {
    let rounds: Int
    let roundDuration: Duration

    init(_ options: BenchOptions) {
        rounds = options.rounds
        roundDuration = .milliseconds(options.roundMilliseconds)
    }

    /// Operations per second of `body`, which performs one operation per call.
    func opsPerSecond(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        // Warm caches and lazy initialisation outside the timed rounds.
        for _ in 0..<3 { body() }
        var best = 0.0
        for _ in 0..<rounds {
            var iterations = 0
            let start = clock.now
            var elapsed = Duration.zero
            repeat {
                for _ in 0..<8 { body() }
                iterations += 8
                elapsed = clock.now - start
            } while elapsed < roundDuration
            let seconds = elapsed.seconds
            best = max(best, Double(iterations) / seconds)
        }
        return best
    }

    /// Megabytes (10^6 bytes) per second of `body`, which processes `bytesPerCall` bytes per call.
    func megabytesPerSecond(bytesPerCall: Int, _ body: () -> Void) -> Double {
        opsPerSecond(body) * Double(bytesPerCall) / 1e6
    }
}

/// Keeps the optimiser from deleting work whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// Formats a table of figures with aligned columns.
struct BenchTable {
    private var rows: [[String]] = []
    let header: [String]

    init(header: [String]) {
        self.header = header
    }

    mutating func add(_ row: String...) {
        rows.append(row)
    }

    func render() -> String {
        let all = [header] + rows
        let widths = (0..<header.count).map { column in
            all.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == 0
                    ? cell.padding(toLength: widths[column])
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

func formatRate(_ value: Double, decimals: Int = 1) -> String {
    var scaled = value
    for _ in 0..<decimals { scaled *= 10 }
    let rounded = scaled.rounded()
    guard rounded.isFinite, abs(rounded) < 1e18 else { return String(value) }
    var digits = String(Int64(rounded))
    if decimals > 0 {
        while digits.count <= decimals { digits = "0" + digits }
        digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -decimals))
    }
    return digits
}

func formatPercent(_ ratio: Double) -> String {
    formatRate(ratio * 100, decimals: 1) + " %"
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
