// Reservoir computing: fixed random networks with a linear readout fitted in closed form.
export {
  EchoStateNetwork,
  type EchoStateNetworkOptions,
  type EchoStateFitOptions,
  type EchoStateRunOptions,
} from './echoStateNetwork.js';
export {
  ExtremeLearningMachine,
  type ExtremeLearningMachineOptions,
  type ExtremeLearningFitOptions,
  type ElmActivation,
} from './extremeLearningMachine.js';
