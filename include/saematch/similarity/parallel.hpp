// The threads of one streamed similarity pass.
//
// The pass alternates a BLAS call, which runs on the BLAS library's own
// threads, with a scan of its result on these. Whoever waits must not spin:
// with OpenMP teams, libgomp's idle workers spin for milliseconds after each
// region and take cores from the next GEMM's BLAS threads, slowing both
// the GEMMs and the scans; OMP_WAIT_POLICY=passive removed the loss, but a
// library cannot set that (figures: benchmarks/README.md, "Measurements
// behind the code"). Threads started per tile were worse still: they land beside the
// BLAS threads and wait to be migrated. So the pass keeps one team of
// std::threads for its whole duration, asleep in futex waits
// (std::atomic::wait) between jobs. It also keeps the pass out of whichever
// OpenMP runtime a host process (torch) brings.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "saematch/detail/threads.hpp"

namespace saematch::similarity::detail {

class WorkerTeam {
public:
    // `threads` − 1 workers; the caller of run() is thread 0.
    explicit WorkerTeam(int threads) {
        for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
    }

    ~WorkerTeam() {
        stop_ = true;
        epoch_.fetch_add(1);
        epoch_.notify_all();
        for (auto& worker : workers_) worker.join();  // before the members they use go
    }

    WorkerTeam(const WorkerTeam&) = delete;
    WorkerTeam& operator=(const WorkerTeam&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Runs body(t, team) for t = 0 .. team − 1 (team clamped to size()), t = 0
    // on the calling thread, and returns when all are done. The first
    // exception thrown is rethrown then.
    template <class Body>
    void run(int team, Body&& body) {
        team = std::clamp(team, 1, size());
        if (team == 1) return body(0, 1);
        std::function<void(int, int)> job = std::ref(body);
        job_ = &job;
        team_ = team;
        error_ = nullptr;
        // Every worker takes part in every job (those beyond `team` return
        // at once), so none can fall a job behind and read the next one's
        // description as its own.
        pending_.store(size() - 1);
        epoch_.fetch_add(1);
        epoch_.notify_all();
        guarded(0);
        for (int left = pending_.load(); left != 0; left = pending_.load()) pending_.wait(left);
        job_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

    // body(i, t) for every i in [0, count), handed out `chunk` at a time to
    // whichever of `team` threads is free (t: the thread's number, for
    // per-thread scratch). For loops whose iterations differ in cost.
    template <class Body>
    void parallel_for(int team, std::ptrdiff_t count, std::ptrdiff_t chunk, Body&& body) {
        std::atomic<std::ptrdiff_t> next{0};
        run(team, [&](int t, int) {
            for (std::ptrdiff_t start; (start = next.fetch_add(chunk)) < count;)
                for (std::ptrdiff_t i = start; i < std::min(count, start + chunk); ++i) body(i, t);
        });
    }

private:
    void guarded(int t) {
        if (t >= team_) return;
        try {
            (*job_)(t, team_);
        } catch (...) {
            const std::lock_guard<std::mutex> lock(error_mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }

    void work(int w) {
        int seen = 0;
        for (;;) {
            epoch_.wait(seen);
            seen = epoch_.load();
            if (stop_) return;
            guarded(w);
            if (pending_.fetch_sub(1) == 1) pending_.notify_one();
        }
    }

    std::vector<std::jthread> workers_;
    std::atomic<int> epoch_{0};    // bumped to hand out a job (or stop)
    std::atomic<int> pending_{0};  // workers still on the current job
    std::function<void(int, int)>* job_ = nullptr;
    int team_ = 1;
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
    std::mutex error_mutex_;
};

// A barrier for the threads of one WorkerTeam::run job.
using TeamBarrier = std::barrier<>;

}  // namespace saematch::similarity::detail
