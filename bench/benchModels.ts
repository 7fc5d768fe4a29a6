/**
 * The Kiln model classes the model benches share (`bench -- models`, `bench -- webgpu`):
 * an LSTM returning only its output sequence and a ResNet basic block, each one input and
 * one output, so every system compared returns one tensor.
 */
import * as kiln from '../src/index.js';

/** A one-input, one-output model. */
export type Model = kiln.nn.Module & { forward(x: kiln.Tensor): kiln.Tensor };

/** nn.LSTM (input 64, hidden 128)'s output sequence only (every hidden state). */
export class LstmSequence extends kiln.nn.Module {
  readonly lstm = new kiln.nn.LSTM(64, 128);
  forward(x: kiln.Tensor): kiln.Tensor {
    return this.lstm.forward(x)[0];
  }
}

/** ResNet basic block (64 channels): conv3×3-BN-ReLU-conv3×3-BN, plus the identity, then ReLU. */
export class BasicBlock extends kiln.nn.Module {
  readonly conv1 = new kiln.nn.Conv2d(64, 64, 3, { padding: 1, bias: false });
  readonly bn1 = new kiln.nn.BatchNorm2d(64);
  readonly conv2 = new kiln.nn.Conv2d(64, 64, 3, { padding: 1, bias: false });
  readonly bn2 = new kiln.nn.BatchNorm2d(64);
  forward(x: kiln.Tensor): kiln.Tensor {
    const y = this.bn1.forward(this.conv1.forward(x)).relu();
    return this.bn2.forward(this.conv2.forward(y)).add(x).relu();
  }
}
