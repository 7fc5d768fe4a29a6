import * as kiln from '../../src/index.js';

/** conv→BN→relu→conv→BN, plus the input, then relu: the residual block the pass and memory-plan tests share. */
export class Residual extends kiln.nn.Module {
  conv1 = new kiln.nn.Conv2d(4, 4, 3, { padding: 1 });
  bn1 = new kiln.nn.BatchNorm2d(4);
  conv2 = new kiln.nn.Conv2d(4, 4, 3, { padding: 1, bias: false });
  bn2 = new kiln.nn.BatchNorm2d(4);
  forward(x: kiln.Tensor): kiln.Tensor {
    const h = this.bn1.forward(this.conv1.forward(x)).relu();
    return this.bn2.forward(this.conv2.forward(h)).add(x).relu();
  }
}
