// tsan-stress — run under ThreadSanitizer (`make test-sanitizers`): several
// threads share one Model, each with its own Session, while two more threads each
// drive their own Scheduler over the same Model. Every session's logits must equal
// its solo run's and every scheduler's tokens its solo run's: a data race in the
// shared model (lazy caches, scratch, kernel state) shows as a TSan report or as
// a mismatch. Kernel threads are 1 (and run-sanitizers.sh sets OMP_NUM_THREADS=1
// for the packing at load): libomp is not TSan-instrumented.
import Dispatch
import RTX
#if canImport(Glibc)
import Glibc
#endif

let path = CommandLine.arguments.dropFirst().first ?? ".models/SmolLM2-135M-Instruct.Q4_1.gguf"
let model = try Model(path: path)
let prompts: [[Int32]] = (0..<4).map { i in model.tokenizer.encode("Thread \(i) asks: what is \(i * 7) plus \(i)?", addBOS: true, parseSpecial: false) }

func sessionLogits(_ prompt: [Int32]) throws -> [Float] {
    let session = try Session(model: model, options: .init(contextLength: 64, batchSize: 8, threads: 1))
    try session.evaluate(prompt)
    try session.evaluate([prompt[1]])
    return Array(try session.logits())
}

func schedulerTokens(_ seed: Int) throws -> [[Int32]] {
    let scheduler = try Scheduler(model: model, options: SchedulerOptions(maxRows: 4, prefillChunk: 8, threads: 1))
    let ids = try (0..<3).map { i in
        try scheduler.submit(prompt: prompts[(seed + i) % prompts.count],
                             options: RequestOptions(maxTokens: 4, sampling: .greedy))
    }
    _ = try scheduler.runToCompletion(maxSteps: 200)
    return ids.map { scheduler.takeResult($0)?.tokens ?? [] }
}

let soloLogits = try prompts.map(sessionLogits)
let soloTokens = try (0..<2).map(schedulerTokens)
let rounds = 2
var failures = 0
let lock = Mutex()

func work(_ worker: Int) {
    do {
        for _ in 0..<rounds {
            if worker < prompts.count {
                let got = try sessionLogits(prompts[worker])
                if got != soloLogits[worker] { lock.run { failures += 1; print("session \(worker): logits differ") } }
            } else {
                let s = worker - prompts.count
                if try schedulerTokens(s) != soloTokens[s] { lock.run { failures += 1; print("scheduler \(s): tokens differ") } }
            }
        }
    } catch {
        lock.run { failures += 1; print("worker \(worker): \(error)") }
    }
}

// Serial queues of their own: one thread per worker, all at once (a concurrent
// queue would cap the width at the core count).
let group = DispatchGroup()
for worker in 0..<(prompts.count + 2) {
    DispatchQueue(label: "worker\(worker)").async(group: group) { work(worker) }
}
group.wait()
print("tsan-stress: \(prompts.count) sessions + 2 schedulers × \(rounds) rounds, \(failures) mismatches")
exit(failures == 0 ? 0 : 1)

final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func run(_ body: () -> Void) { pthread_mutex_lock(&mutex); body(); pthread_mutex_unlock(&mutex) }
}
