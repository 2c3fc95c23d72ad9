// `graphc train --check-plan` in the library: the training step run planned and through the reference
// runner on the run's own batches (its shuffles, its data), compared bit for bit. The CLI only renders.
import Executor
import GraphIR

extension TrainingSetup {
    /// Runs the first `steps` training steps from `weights` planned (this setup's plan) and unplanned,
    /// feeding both the batches a training run would (epoch by epoch, each epoch's shuffle), and compares
    /// them (`PlannedRunner.checkPlan`). `progress(done)` hears each step before it runs.
    public func checkPlan(
        weights: [(ValueID, Checkpoint.Tensor)], steps: Int, seed: UInt64, progress: (_ done: Int) -> Void = { _ in }
    ) throws -> PlanCheckReport {
        guard steps >= 1 else { throw TrainingError("--check-plan needs at least one step (--epochs 0 runs none)") }
        var byID: [Int: Checkpoint.Tensor] = [:]
        for (id, t) in weights { byID[id.raw] = t }
        var order: [Int] = []
        return try PlannedRunner.checkPlan(
            step, plan: plan, steps: steps, seed: seed,
            initialize: { id, view in byID[id.raw]?.copy(into: view) }
        ) { step in
            let index = step - 1
            if index % stepsPerEpoch == 0 { order = train.order(epoch: index / stepsPerEpoch) }
            let (x, y, all) = try feeds()
            fillStep(index, order: order, x: x, y: y)
            progress(index)
            return all
        }
    }
}

extension TrainingStopped {
    /// `the loss of pretraining is NaN at step 2 (epoch 2, batch 1): the study stopped`: what a user reads
    /// when `subject` (`the loss`, `the loss of pretraining`) stopped being finite; train and study say it
    /// alike.
    public func message(_ subject: String, _ consequence: String) -> String {
        let shown = loss.isNaN ? "NaN" : loss > 0 ? "+infinity" : "-infinity"
        return "\(subject) is \(shown) at step \(step) (epoch \(epoch), batch \(batchIndex)): \(consequence)"
    }
}
