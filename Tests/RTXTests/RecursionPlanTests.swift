// RecursionPlanTests.swift — position → shared layer / loop maps of every strategy.
import Testing
@testable import RTX

@Suite struct RecursionPlanTests {
    @Test func vanillaPlanMapsEachPositionToItsOwnLayer() {
        let plan = RecursionPlan.vanilla(depth: 30)
        #expect(plan.storedLayers == 30 && plan.loops == 1)
        #expect((0..<30).allSatisfy { plan.sharedLayer(of: $0) == $0 && plan.loop(of: $0) == 0 })
    }

    @Test func cycleRepeatsTheWholeBlock() throws {
        let plan = try RecursionPlan(strategy: .cycle, positions: 6, loops: 2)
        #expect((0..<6).map(plan.sharedLayer(of:)) == [0, 1, 2, 0, 1, 2])
        #expect((0..<6).map(plan.loop(of:)) == [0, 0, 0, 1, 1, 1])
        #expect(plan.positions(tiedTo: 1) == [1, 4])
    }

    @Test func sequenceRepeatsEachLayerInARow() throws {
        let plan = try RecursionPlan(strategy: .sequence, positions: 6, loops: 2)
        #expect((0..<6).map(plan.sharedLayer(of:)) == [0, 0, 1, 1, 2, 2])
    }

    @Test func middleCycleKeepsFirstAndLastLayersUnique() throws {
        let plan = try RecursionPlan(strategy: .middleCycle, positions: 8, loops: 2)
        #expect(plan.storedLayers == 5)
        #expect((0..<8).map(plan.sharedLayer(of:)) == [0, 1, 2, 3, 1, 2, 3, 4])
    }

    @Test func loopsThatDoNotDivideTheDepthAreRejected() {
        #expect(throws: RTXError.self) { try RecursionPlan(strategy: .cycle, positions: 30, loops: 4) }
        #expect(throws: RTXError.self) { try RecursionPlan(strategy: .cycle, positions: 30, loops: 0) }
        #expect(throws: RTXError.self) { try RecursionPlan(strategy: .middleCycle, positions: 30, loops: 5) }
    }
}
