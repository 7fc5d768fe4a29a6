// Bundle size only: Kiln's whole API kept (nothing for the bundler to drop).
import * as kiln from 'kiln';

window.kiln = kiln;
