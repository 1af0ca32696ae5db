import Synchronization

/// Process-wide metrics in the Prometheus text format (version 0.0.4). Counters and histograms are
/// atomics, so recording costs no lock once a caller holds its series; looking a series up by
/// labels takes one lock, so hot paths keep the series they use.
public final class Metrics: Sendable {
    public static let shared = Metrics()

    /// A monotonically increasing count.
    public final class Counter: Sendable {
        let value = Atomic<Int>(0)
        public func add(_ n: Int = 1) { value.add(n, ordering: .relaxed) }
        public var count: Int { value.load(ordering: .relaxed) }
    }

    /// Observations in fixed buckets (upper bounds, in the metric's unit), plus their sum.
    public final class Histogram: Sendable {
        let bounds: [Double]
        let buckets: [Counter]
        let total = Atomic<Int>(0)
        /// The sum in millionths of the unit, so it can be an integer atomic.
        let sumMicros = Atomic<Int>(0)

        init(bounds: [Double]) {
            self.bounds = bounds
            buckets = bounds.map { _ in Counter() }
        }

        public func observe(_ value: Double) {
            for (index, bound) in bounds.enumerated() where value <= bound {
                buckets[index].add()
                break
            }
            total.add(1, ordering: .relaxed)
            sumMicros.add(Int((value * 1_000_000).rounded()), ordering: .relaxed)
        }
    }

    /// Seconds, from 100 µs to 30 s.
    public static let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25, 0.5, 1, 2.5, 5, 10, 30]

    private struct Family {
        var help: String
        var type: String
        var counters: [String: Counter] = [:]
        var histograms: [String: Histogram] = [:]
        var gauge: (@Sendable () -> [(labels: String, value: Double)])?
    }

    private let families = Locked<[String: Family]>([:])

    public init() {}

    /// The counter `name{labels}`, created on first use.
    public func counter(_ name: String, _ help: String, labels: [(String, String)] = []) -> Counter {
        let key = Self.render(labels)
        return families.withLock { table in
            var family = table[name] ?? Family(help: help, type: "counter")
            if let existing = family.counters[key] { return existing }
            let counter = Counter()
            family.counters[key] = counter
            table[name] = family
            return counter
        }
    }

    /// The histogram `name{labels}`, created on first use.
    public func histogram(_ name: String, _ help: String, labels: [(String, String)] = [],
                          buckets: [Double] = Metrics.latencyBuckets) -> Histogram {
        let key = Self.render(labels)
        return families.withLock { table in
            var family = table[name] ?? Family(help: help, type: "histogram")
            if let existing = family.histograms[key] { return existing }
            let histogram = Histogram(bounds: buckets)
            family.histograms[key] = histogram
            table[name] = family
            return histogram
        }
    }

    /// A gauge read when metrics are scraped: `read` returns each series' labels and value.
    public func gauge(_ name: String, _ help: String, read: @escaping @Sendable () -> [(labels: [(String, String)], value: Double)]) {
        families.withLock { table in
            var family = table[name] ?? Family(help: help, type: "gauge")
            family.gauge = { read().map { (Metrics.render($0.labels), $0.value) } }
            table[name] = family
        }
    }

    /// Every metric in the Prometheus text exposition format.
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in snapshot.keys.sorted() {
            let family = snapshot[name]!
            out += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.type)\n"
            for key in family.counters.keys.sorted() {
                out += "\(name)\(key) \(family.counters[key]!.count)\n"
            }
            for key in family.histograms.keys.sorted() {
                let histogram = family.histograms[key]!
                var cumulative = 0
                for (index, bound) in histogram.bounds.enumerated() {
                    cumulative += histogram.buckets[index].count
                    out += "\(name)_bucket\(Self.adding(key, "le", Self.format(bound))) \(cumulative)\n"
                }
                let total = histogram.total.load(ordering: .relaxed)
                out += "\(name)_bucket\(Self.adding(key, "le", "+Inf")) \(total)\n"
                out += "\(name)_sum\(key) \(Self.format(Double(histogram.sumMicros.load(ordering: .relaxed)) / 1_000_000))\n"
                out += "\(name)_count\(key) \(total)\n"
            }
            if let gauge = family.gauge {
                for (labels, value) in gauge() { out += "\(name)\(labels) \(Self.format(value))\n" }
            }
        }
        return out
    }

    static func render(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    private static func adding(_ key: String, _ name: String, _ value: String) -> String {
        key.isEmpty ? "{\(name)=\"\(value)\"}" : String(key.dropLast()) + ",\(name)=\"\(value)\"}"
    }

    private static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
        return String(value)
    }
}
