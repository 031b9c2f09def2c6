// Real city names, roughly by how often they appear as a tweet location: the demo data's keys.
// Names with accents are kept (São Paulo, Zürich, Bogotá): keys are UTF-8 end to end.
export const CITIES: readonly string[] = Object.freeze([
  'London', 'New York', 'Los Angeles', 'Paris', 'Tokyo', 'São Paulo', 'Jakarta', 'Istanbul', 'Mumbai',
  'Mexico City', 'Chicago', 'Toronto', 'Madrid', 'Buenos Aires', 'Manila', 'Lagos', 'Seoul', 'Berlin',
  'Sydney', 'Rio de Janeiro', 'Bangkok', 'Moscow', 'Cairo', 'Delhi', 'Kuala Lumpur', 'Johannesburg',
  'Barcelona', 'Dublin', 'Amsterdam', 'Rome', 'Milan', 'Lisbon', 'San Francisco', 'Seattle', 'Boston',
  'Atlanta', 'Houston', 'Dallas', 'Miami', 'Philadelphia', 'Washington', 'Montreal', 'Vancouver',
  'Melbourne', 'Singapore', 'Hong Kong', 'Osaka', 'Nairobi', 'Bogotá', 'Lima', 'Santiago', 'Caracas',
  'Karachi', 'Lahore', 'Dhaka', 'Riyadh', 'Dubai', 'Tehran', 'Athens', 'Warsaw', 'Prague', 'Vienna',
  'Budapest', 'Stockholm', 'Oslo', 'Copenhagen', 'Helsinki', 'Brussels', 'Zürich', 'Geneva', 'Munich',
  'Hamburg', 'Manchester', 'Birmingham', 'Glasgow', 'Edinburgh', 'Liverpool', 'Leeds', 'Bristol', 'Lyon',
  'Marseille', 'Porto', 'Valencia', 'Seville', 'Naples', 'Kyiv', 'Bucharest', 'Sofia', 'Belgrade',
  'Zagreb', 'Ankara', 'Tel Aviv', 'Casablanca', 'Accra', 'Addis Ababa', 'Cape Town', 'Auckland', 'Perth',
  'Brisbane', 'Denver', 'Phoenix', 'Austin', 'Detroit', 'Minneapolis', 'Portland', 'San Diego',
  'Las Vegas', 'New Orleans', 'Nashville', 'Guadalajara', 'Monterrey', 'Medellín', 'Quito', 'Montevideo',
  'Ho Chi Minh City', 'Hanoi', 'Taipei', 'Shanghai', 'Beijing', 'Chennai', 'Bangalore', 'Kolkata', 'Hyderabad',
]);
