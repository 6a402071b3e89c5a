export * from './runs';
export * from './events';
